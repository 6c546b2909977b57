"""The playground: a TensorFlow-Playground-style page trained live by glassnet's own engine.

Needs the ``web`` extra (``pip install 'glassnet[web]'``). Start it with ``glassnet playground``
or :func:`serve`; :func:`create_app` gives the ASGI app itself.
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
