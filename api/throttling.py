"""Rate limits per key: a counter per key and minute in the cache (Redis in production, so that
every server process counts together), ``API_RATE_PER_MINUTE`` requests a minute unless the key
says otherwise; beyond it, 429 with ``Retry-After``."""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .models import ApiKey


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        limit = api_key.rate_per_minute or settings.API_RATE_PER_MINUTE
        now = time.time()
        window = int(now // 60)
        key = f"api-rate:{api_key.prefix}:{window}"
        cache.add(key, 0, timeout=120)
        try:
            count = cache.incr(key)
        except ValueError:  # the counter expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
        self.retry_after = max(1, int((window + 1) * 60 - now) + 1)
        return count <= limit

    def wait(self):
        return self.retry_after
