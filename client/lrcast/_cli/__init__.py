"""The ``lrcast`` command line's subcommands, one module per group: `_serve` (serve, db),
`_commands` (runs, lr, amend, rewind, events), `_preview`; what they share is `_common`, what
they print `_output`. The app itself is `lrcast.cli`."""
