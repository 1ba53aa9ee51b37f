"""Writes the bytecode of the modules sentscore's commands import, once, at set-up.

setup.sh installs with `pip --no-compile` (pip compiles every file it installs, on one core). Python then
compiles a module the first time it is imported and keeps the result, unless PYTHONDONTWRITEBYTECODE is set,
as it is in many containers and CI machines: there every command would compile torch and transformers again.
This imports what the commands use with bytecode writing on, whatever the environment says.
"""

import importlib
import pkgutil
import sys

sys.dont_write_bytecode = False

# Imported inside sentscore's functions (lazy heavy imports), so walking sentscore's modules misses them.
LAZY = (
    "torch",
    "transformers",
    "transformers.models.bert.modeling_bert",
    "transformers.models.mpnet.modeling_mpnet",
    "transformers.trainer",
    "onnx",
    "onnxruntime",
    "onnxruntime.quantization",
    "onnxruntime.transformers.optimizer",
    "sklearn.metrics",
    "sklearn.model_selection",
    "scipy.optimize",
    "scipy.stats",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "rich.console",
    "rich.progress",
    "optuna",
    "uvicorn",
    "datasets",
    "pyarrow",
    "tokenizers",
)


def main() -> None:
    import sentscore

    names = [m.name for m in pkgutil.walk_packages(sentscore.__path__, "sentscore.")]
    for name in [*LAZY, *(n for n in names if not n.endswith("__main__"))]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an extra that is not installed


if __name__ == "__main__":
    main()
