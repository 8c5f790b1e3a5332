"""Synthetic DICOM studies with ground truth, for demos, training the demo models and robustness tests.

Generators: `phantoms.ankle_mri` (ankle MRI, osteochondral lesion of the talus) and `phantoms.broken`
(inputs an app must survive); shared header helpers in `phantoms.dicom_headers`. CLI: `python -m phantoms`.
"""

from __future__ import annotations

__all__: list[str] = []
