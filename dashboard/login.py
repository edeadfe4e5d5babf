"""The dashboard's login page on the project's user file, for
``panel serve dashboard/app.py --auth-module dashboard/login.py --cookie-secret ...``.

Panel's basic-auth login (its ``BasicAuthProvider``: signed ``user`` cookie, ``pn.state.user``,
``/logout``) with three changes: the password is checked against the user file's argon2id hash
(``decisions.users``) instead of a plain-text file, a disabled or removed account is logged
out at its next request, and a user name that failed ``people.MAX_FAILURES`` times in a few
minutes gets 429 (nginx throttles per address). The page speaks French and English.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape
from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.auth import LogoutHandler as PanelLogout
from panel.io.state import state
from tornado.web import RequestHandler

from dashboard import people
from dashboard.i18n import LOCALES, N_, NAMES, default_language, language

TEMPLATES = Path(__file__).resolve().parent / "templates"
_pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
#: Error codes of the login page's ``?error=`` (never free text: nothing is reflected).
ERRORS = {"wrong": N_("Wrong user name or password."),
          "throttled": N_("Too many failed attempts for this user name: wait a few minutes.")}
#: The page's words (the template only places them).
WORDS = {"title": N_("Credit scoring – log in"), "heading": N_("Log in"),
         "user": N_("User name"), "password": N_("Password"), "submit": N_("Log in"),
         "help": N_("Advisors, supervisors and clients log in with the name and password "
                    "the bank gave them.")}
throttle = people.Throttle()


def _lang(handler: RequestHandler) -> str:
    """``?lang=``, else the language of the page asked for (``?next=/app?lang=en``)."""
    asked = handler.get_argument("lang", "")
    if not asked:
        query = parse_qs(urlparse(handler.get_argument("next", "")).query)
        asked = (query.get("lang") or [""])[0]
    asked = asked[:2].lower()
    return asked if asked in LOCALES else default_language()


class UserFileLogin(BasicLoginHandler):
    """Panel's login form, checked against the user file."""

    def get(self) -> None:
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url, httponly=True)
        self._page(self.get_argument("error", ""))

    def _page(self, code: str) -> None:
        t = language(_lang(self))
        self.write(_pages.get_template("login.html").render(
            lang=t.code, words={k: t.gettext(v) for k, v in WORDS.items()},
            error=t.gettext(ERRORS[code]) if code in ERRORS else "",
            other={c: n for c, n in NAMES.items() if c != t.code}))

    def _validate(self, username: str, password: str) -> bool:
        return people.verify(username, password) is not None

    def post(self) -> None:
        name = self.get_argument("username", "")
        lang = _lang(self)
        if throttle.blocked(name):
            self.set_status(429)
            self._page("throttled")
            return
        if not self._validate(name, self.get_argument("password", "")):
            throttle.failed(name)
            self.redirect(f"{self._login_endpoint}?lang={lang}&error=wrong", status=303)
            return
        throttle.succeeded(name)
        self.set_current_user(name)
        self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url))
                      or state.base_url)


class Logout(PanelLogout):
    """Panel's logout (every login cookie cleared), then back to the login page."""

    def get(self) -> None:
        for cookie in ("user", "id_token", "access_token", "refresh_token", "next_url"):
            self.clear_cookie(cookie)
        self.redirect(f"{login_url}?lang={_lang(self)}")


_provider = BasicAuthProvider()
_panel_user = _provider.get_user


def get_user(handler: RequestHandler) -> str | None:
    """The person of the signed cookie, if their account is still enabled."""
    name = _panel_user(handler)
    return name if name and people.person(name) is not None else None


login_url = "/login"
LoginHandler = UserFileLogin
logout_url = "/logout"
LogoutHandler = Logout
