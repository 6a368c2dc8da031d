"""The web pages: API documentation with try-it (GET /), chat (/chat), self-test (/doctor), and the
OpenAPI document they are driven by (/openapi.json). Page texts come from blueprints/i18n.py.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request
from markupsafe import Markup, escape

from blueprints import i18n
from blueprints.openapi import load_spec, operations_by_tag

bp = Blueprint("docs", __name__)
ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
def docs_page():
    groups = operations_by_tag(load_spec(), i18n.choose_language(request.args, request.cookies))
    return render_template("docs/index.html", groups=groups, origin=request.host_url.rstrip("/"))


@bp.get("/chat")
def chat_page():
    return render_template("docs/chat.html")


@bp.get("/doctor")
def doctor_page():
    return render_template("docs/doctor.html")


@bp.get("/openapi.json")
def openapi():
    return jsonify(load_spec())


@bp.app_context_processor
def page_language() -> dict:
    # App-wide, so every page built on base.html (the /auth page too) gets the same switch.
    lang = i18n.choose_language(request.args, request.cookies)
    return {"lang": lang, "t": i18n.strings(lang)}


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """Escaped text whose `backticked` spans become <code> elements."""
    pieces = str(escape(text)).split("`")
    return Markup("".join(f"<code>{piece}</code>" if i % 2 else piece for i, piece in enumerate(pieces)))


@bp.after_app_request
def remember_language(response: Response) -> Response:
    # App-wide and the only place the cookie is set: every HTML page (these and /auth's, redirects
    # included) remembers an explicit ?lang=; API responses never carry it.
    if response.mimetype != "text/html":  # before the query string is parsed: most responses are an API's
        return response
    lang = request.args.get("lang")
    if lang in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, max_age=ONE_YEAR, samesite="Lax", httponly=True)
    return response
