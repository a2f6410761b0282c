"""The fake's HTML: Patreon's consent page and its error page."""

from __future__ import annotations

import html

from fake_patreon.oauth import SCOPES, scopes

CLIENT_NAME = "Ventures"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Patreon (fake)</title>
<style>
body {{ margin: 0; padding: 4rem 1rem; background: #f5f4f2; color: #241e12;
  font: 16px/1.5 system-ui, sans-serif; display: flex; justify-content: center; }}
main {{ background: #fff; border-radius: 12px; padding: 2rem; max-width: 28rem;
  box-shadow: 0 2px 12px rgb(0 0 0 / 8%); }}
h1 {{ font-size: 1.35rem; margin-top: 0; }}
select {{ width: 100%; padding: .5rem; font-size: 1rem; margin: .25rem 0 1.5rem; }}
button {{ border: 0; border-radius: 999px; padding: .6rem 1.5rem; font-size: 1rem;
  cursor: pointer; margin-right: .5rem; }}
button[value=allow] {{ background: #ff424d; color: #fff; }}
button[value=deny] {{ background: #e8e6e2; color: #241e12; }}
.fake {{ color: #706c64; font-size: .85rem; margin-top: 2rem; }}
</style>
</head>
<body><main>
{body}
<p class="fake">This is fake_patreon, a local stand-in for patreon.com.</p>
</main></body>
</html>
"""


def consent_page(params, patrons):
    """The consent screen for ``params``, offering ``patrons`` to log in as."""
    esc = html.escape
    granted = "".join(f"<li>{esc(SCOPES[scope])}</li>" for scope in scopes(params))
    hidden = "\n".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in params.items()
        if not name.startswith("fake_")
    )
    options = "".join(
        f'<option value="{esc(p.id)}">{esc(p.full_name)} ({esc(p.note)})</option>'
        for p in patrons
    )
    body = f"""<h1>{esc(CLIENT_NAME)} wants to access your Patreon account</h1>
<p>This will allow {esc(CLIENT_NAME)} to:</p>
<ul>{granted}</ul>
<form method="post" action="/oauth2/authorize">
{hidden}
<label for="patron">Log in as</label>
<select id="patron" name="patron">{options}</select>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"""
    return PAGE.format(title="Allow access", body=body)


def error_page(message):
    """A page saying what went wrong."""
    body = f"<h1>Something went wrong</h1>\n<p>{html.escape(message)}</p>"
    return PAGE.format(title="Error", body=body)
