"""The pure half of URL deduplication: one document per normalised URL, the most recent crawl first, then the
longest text, then the smallest id (so the choice never depends on the order documents arrive in).

Normalisation treats as one page what crawls fetch under several spellings: http and https, `www.`, default
ports, letter case of the host, a trailing slash on the path, fragments, the order of query parameters, and
tracking parameters (utm_*, fbclid, gclid and their kin), which never change the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mc_cid", "mc_eid",
     "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "ref_src"}
)
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str | None:
    """A key equal for every spelling of the same page, or None when the URL has no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # an unparseable host or port
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    host = host.removeprefix("www.")
    scheme = parts.scheme.lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() not in TRACKING_PARAMETERS and not name.lower().startswith(TRACKING_PREFIXES)
    )
    # http and https share the key: crawls fetch the same page under both
    return f"{host}{path}" + (f"?{urlencode(query)}" if query else "")


def crawl_time(date: str) -> float:
    """Seconds since the epoch of an ISO-8601 crawl date; 0 when missing or unreadable (such documents lose)."""
    try:
        parsed = datetime.fromisoformat(date.strip())
    except (ValueError, AttributeError):
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def preference(date: str, text_length: int, doc_id: str) -> tuple:
    """Sort key of the documents sharing a URL: the smallest is kept (most recent, then longest, then smallest id)."""
    return (-crawl_time(date), -text_length, doc_id)
