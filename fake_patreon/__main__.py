"""
Run the fake Patreon in the foreground until SIGINT or SIGTERM.

    python -m fake_patreon --port 8765
"""

import argparse
import signal

from fake_patreon.server import FakePatreon


def main(argv=None):
    """Parse ``argv``, serve, and return once told to stop."""
    parser = argparse.ArgumentParser(
        prog="python -m fake_patreon", description="A fake Patreon, on loopback only."
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback IP address")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--client-id", default="fake-client-id")
    parser.add_argument("--client-secret", default="fake-client-secret")
    parser.add_argument("--campaign-id", default="9000001")
    parser.add_argument(
        "--campaign-size",
        type=int,
        default=0,
        help="how many dynamic members the campaign holds, ids from 2000000",
    )
    args = parser.parse_args(argv)

    # Block the stop signals in every thread, the server's included, and
    # wait for them here: a handler would not wake a main thread blocked
    # on a lock when the signal lands on another thread.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        fake = FakePatreon(
            args.host,
            args.port,
            args.client_id,
            args.client_secret,
            args.campaign_id,
            args.campaign_size,
        )
    except (ValueError, OSError) as error:
        parser.error(str(error))
    with fake:
        # One line, flushed: scripts and tests read the URL from it.
        print(f"Fake Patreon serving on {fake.base_url}", flush=True)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
