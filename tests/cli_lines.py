"""``one_line_error``: the command line's failure contract, checked one way by every CLI test:
the exit status, exactly one line on stderr starting ``glassnet: error:``, no traceback."""

from __future__ import annotations

from glassnet.cli import main


def one_line_error(capsys, argv: list[str], status: int = 2,
                   prefix: str = "glassnet: error: ") -> str:
    """Run ``main(argv)``: it must exit with ``status`` and write one line starting with
    ``prefix`` (and no traceback); returns that line."""
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]
