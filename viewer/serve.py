"""The app server's entry point: start opening the model named by ``-- --model PATH`` at once, so
the first page view finds it ready, then run Streamlit's own command line (``streamlit run ...``).

    python -m viewer.serve run app.py [streamlit flags] -- --model PATH
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from viewer.model_view import preopen


def model_argument(argv: list[str]) -> str | None:
    """The value of ``--model`` among the script arguments (after ``--``)."""
    if "--" not in argv:
        return None
    script_args = argv[argv.index("--") + 1 :]
    if "--model" in script_args[:-1]:
        return script_args[script_args.index("--model") + 1]
    return None


def main() -> None:
    model = model_argument(sys.argv)
    if model:
        path = str(Path(model).resolve())
        threading.Thread(
            target=preopen, args=(f"path:{path}", path), name="modellens-preopen", daemon=True
        ).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
