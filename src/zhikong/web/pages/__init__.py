"""The web command centre's pages (HTML) and the map's GeoJSON endpoints.

Every module here that exposes ``router`` is included by ``zhikong.web.app.create_app``. Pages render
Jinja2 templates from ``web/templates`` in the request's language (``templating.render``) and load
their scripts and styles from ``/static`` (``web/static``; libraries from npm in ``static/vendor``).
"""
