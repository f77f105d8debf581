"""How a run executes: ranks and collectives, signals, atomic checkpoint files, and the few places that reach
into Lightning's internals. The bottom layer: it imports nothing else of cvrl_pl."""
