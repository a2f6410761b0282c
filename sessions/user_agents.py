"""
User agents as staff read them: "Chrome 131 on Linux".

ua-parser (uap-python) does the parsing, with the uap-core rules shipped in
ua-parser-builtins (updated monthly): no regexes of ours to keep up with new
browsers. The raw string stays in the row and the admin shows it on hover.
"""

from functools import lru_cache

import ua_parser
from ua_parser import Domain

# A page shows 50 rows, and most come from a handful of browser builds: the
# cache makes rendering a page of rows CPU-cheap after the first parse of each
# string (about a millisecond), however many rows the table holds.
CACHE_SIZE = 4096


@lru_cache(maxsize=CACHE_SIZE)
def describe(user_agent):
    """
    ``user_agent``'s browser, major version and operating system, e.g.
    "Firefox 133 on Windows"; the raw string when no rule recognises it, and
    "" for none at all.
    """
    if not user_agent:
        return ""
    result = ua_parser.parser(user_agent, Domain.USER_AGENT | Domain.OS)
    browser = result.user_agent
    if browser is None:
        return user_agent
    name = f"{browser.family} {browser.major}" if browser.major else browser.family
    return f"{name} on {result.os.family}" if result.os else name
