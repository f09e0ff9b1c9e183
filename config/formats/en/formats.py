# The English console groups figures by three with a comma, as Django's English format does.
from django.conf.locale.en.formats import *  # noqa: F401,F403
