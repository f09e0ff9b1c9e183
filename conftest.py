import pytest


@pytest.fixture
def program(db):
    from membership.services import program_load

    program, _ = program_load(name="default")
    return program
