"""Names kept in two languages: a level, benefit, mall item or plan has its name (in the
program's language, Chinese in the presets) and, where stored, an English one."""

from django.utils.translation import get_language


class NamedInTwoLanguages:
    """For a model with ``name`` and ``name_en``: ``display_name`` is the English name when the
    console speaks English and one is stored, else the name."""

    @property
    def display_name(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name
