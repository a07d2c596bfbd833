"""The bundled knowledge-intensive benchmark and the quickstart that runs the whole pipeline on it."""
