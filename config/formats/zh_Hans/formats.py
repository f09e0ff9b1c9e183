# Figures in the Chinese console as finance and operations staff write them: groups of three
# with a comma (1,234,567 and ¥37,037.01), not Django's default for zh-hans (no separator).
from django.conf.locale.zh_Hans.formats import *  # noqa: F401,F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
