"""``python -m idp.demo.frontend``: the frontend on Flask's dev server (manual testing only)."""

from __future__ import annotations

from idp.demo.frontend.app import main

if __name__ == "__main__":
    main()
