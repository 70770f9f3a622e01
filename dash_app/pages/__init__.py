"""One module per dashboard page, each with its ``layout`` and its view function(s).

overview (``/``), map (``/map``), trends (``/trends``), units (``/units``), quality
(``/quality``) and sql (``/sql``); ``dash_app.layout.page_layout`` picks one by URL path and
``dash_app.callbacks`` wires their view functions.
"""

__all__: list[str] = []
