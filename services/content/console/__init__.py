"""The editor console: the web pages editors and translators work in, served at ``/console``.

An adapter beside ``http/``: its controllers call the same use cases as the API, with the
`Principal` of the signed-in token, so a page shows and allows exactly what the API would. It
holds no SQL and no rule of its own about who may do what; it asks ``principal.allows``.

Pieces (``services/content/console/``):

- ``editor.py``: the editor of a variant, its live preview and the new-document form.
- ``plugin.py``: `ConsolePlugin`, one line in ``http/app.py``; it mounts the router, the
  Jinja2 templates and the assets. Controllers are listed in ``plugin.CONTROLLERS``.
- ``controllers.py``: sign-in, sign-out, the language switch and the sites page, and
  `SignedInController`, the base class (its guard needs a session) of every signed-in page.
- ``browse.py``: a site's documents (``/console/sites/{site}``); ``fact_pages.py`` and
  ``fact_forms.py``: the facts tables and the edit flow (form, review with the fan-out, save).
- ``session.py``: the session cookie and the guard; ``security.py``: CSRF and the headers of
  every console response; ``errors.py``: domain errors as pages; ``templating.py``: the Jinja2
  environment, the language of a request and `page`, which renders a template with what
  ``base.html`` needs; ``assets.py``: files of ``static/`` at content-hashed URLs;
  ``forms.py``: the bodies of the console's forms (not contracts: they stay out of schemas/);
  ``translate.py``: the translation screen (``usecases/translation_sheet.py``), its save and its
  live preview (``POST .../translate/preview``, an htmx fragment).

The URL map (every path below ``/console``):

======================================== ===================================================
``/console``                              the sites the token may see
``/console/sign-in``                      sign in with a token's secret (GET form, POST)
``/console/sign-out``                     POST: end the session
``/console/language``                     POST: choose the language of the pages (a cookie)
``/console/assets/{name}``                static files, ``name`` with a content hash
``/console/sites/{site}``                 a site's documents (pages and fragments), status per locale
``/console/sites/{site}/new``             create a page of the site, or a fragment (GET form, POST)
``/console/sites/{site}/facts``           the site's facts
``/console/facts``                        global facts
``/console/facts/{scope}/{key}/edit``     edit a fact (``scope``: ``global`` or a site key): form, review, save
``/console/documents/{id}/{locale}/edit``       edit a variant (preview beside it)
``/console/documents/{id}/{locale}/preview``    POST (htmx): the editor's unsaved revision, rendered
``/console/documents/{id}/{locale}/history``    revisions, diffs (``?from=&to=``); POST ``revert``
``/console/documents/{id}/{locale}/publish``    the confirmation (GET), the publication (POST)
``/console/documents/{id}/{locale}/unpublish``  the confirmation (GET), the unpublication (POST)
``/console/documents/{id}/{locale}/translate``  translate from the source, segment by segment
======================================== ===================================================

A page's controller subclasses `SignedInController`, takes ``principal: Caller`` and
``db: DB`` like the API's handlers (the ``principal`` here is the session's), and returns
``page(request, "its-template.html", ...)``; its template extends ``base.html``. Every form
that changes state is a POST carrying ``{{ csrf_field() }}``; htmx requests carry the token in
the ``X-CSRF-Token`` header (``static/console.js``).
"""
