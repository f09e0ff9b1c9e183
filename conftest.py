import pytest


@pytest.fixture
def program(db):
    from membership.services import program_load

    program, _ = program_load(name="default")
    return program


@pytest.fixture(autouse=True)
def _language_of_the_settings_after_each_test():
    """A request in Chinese leaves its language active in the thread (LocaleMiddleware does not
    undo it): each test starts in the settings' language, whatever the one before asked for."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _events_follow_their_json_schema(request):
    """Every outbound event a test writes is as its type's JSON Schema says (``api.event_schemas``).

    The test's database is asked for here, so that it is still there when this looks at it."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames or bool(
        marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    from jsonschema import Draft202012Validator, FormatChecker

    from api.event_schemas import event_json_schema
    from membership.models import OutboxEvent
    from membership.selectors import outbox_event_body

    validators = {}  # made for the types the test wrote
    for e in OutboxEvent.objects.order_by("pk").iterator():
        if e.type not in validators:
            validators[e.type] = Draft202012Validator(event_json_schema(e.type), format_checker=FormatChecker())
        problems = [f"{'/'.join(map(str, p.path))}: {p.message}" for p in validators[e.type].iter_errors(outbox_event_body(e))]
        assert not problems, f"{e.type} event {e.data} is not as its schema says: {problems}"
