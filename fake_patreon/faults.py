"""
Faults a test can set on the fake's endpoints: Patreon refusing, failing,
answering garbage, slowly, or with odd attributes.
"""

from __future__ import annotations

# Each fault mode, with its options and their defaults.
FAULT_MODES = {
    "unauthorized": {},
    "server_error": {"status": 503},
    "malformed": {},
    "nodata": {},
    "slow": {"seconds": 5},
    "rate_limited": {},
    # The token endpoint refusing the grant, as Patreon may: 400 or 401, with
    # invalid_grant (a dead refresh token) or access_denied (access revoked).
    "refused": {"status": 401, "error": "invalid_grant"},
    # The user's attributes replaced by whatever JSON the test gives, wrong
    # types and huge strings included: what a broken or hostile answer holds.
    "attributes": {"attributes": {}},
}
FAULT_ENDPOINTS = ("token", "identity", "campaigns", "members", "member")


def checked_fault(endpoint, mode, options):
    """
    ``(mode, options)`` with the defaults filled in, or ValueError saying
    what is wrong with the fault asked for.
    """
    if endpoint not in FAULT_ENDPOINTS:
        raise ValueError(
            f"endpoint must be one of {FAULT_ENDPOINTS}, not {endpoint!r}."
        )
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {tuple(FAULT_MODES)}, not {mode!r}.")
    if unknown := options.keys() - FAULT_MODES[mode].keys():
        raise ValueError(
            f"Fault mode {mode!r} takes no option {', '.join(sorted(unknown))}."
        )
    options = {**FAULT_MODES[mode], **options}
    seconds = options.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"seconds must be a number >= 0, not {seconds!r}.")
    if mode == "refused":
        if endpoint != "token":
            raise ValueError("Only the token endpoint refuses a grant.")
        if options["status"] not in (400, 401):
            raise ValueError(f"status must be 400 or 401, not {options['status']!r}.")
        if not isinstance(options["error"], str) or not options["error"]:
            raise ValueError(f"error must be an error code, not {options['error']!r}.")
    elif options.get("status", 500) not in range(500, 600):
        raise ValueError(f"status must be a 5xx code, not {options['status']!r}.")
    if not isinstance(options.get("attributes", {}), dict):
        raise ValueError(
            f"attributes must be an object, not {options['attributes']!r}."
        )
    if mode == "attributes" and endpoint != "identity":
        raise ValueError("Only the identity endpoint has attributes to replace.")
    return mode, options
