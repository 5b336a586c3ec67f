"""The HTTP client of the soak and the load (scripts/soak.py, scripts/load.py): one API call
with a bearer token and a deadline, redirects not followed, every outcome an answer."""

import http.client
import urllib.error
import urllib.request


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer itself (a download must come back inline in the soak)."""

    def redirect_request(self, *args):
        return None


OPENER = urllib.request.build_opener(NoRedirects)


def call(method, url, token, timeout, body=None, headers=None):
    """(status, headers, body), or (None, {}, reason) when no answer came within `timeout`."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with OPENER.open(request, timeout=timeout) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
    except (OSError, http.client.HTTPException) as err:
        return None, {}, repr(getattr(err, "reason", err))
