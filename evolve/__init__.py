"""Evolution: DEAP toolboxes, genome <-> controller codecs, fitness functions, parallel backends and checkpoints."""
