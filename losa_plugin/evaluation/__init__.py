# Components are imported here so that importing losa_plugin registers them.
from .detection_eval import (Detections, TALEvalResult, evaluate_detections,  # noqa: F401
                             format_ap_table, format_tie_report)
from .error_analysis import analyze_errors  # noqa: F401
from .interpolated_ap import average_precision_detection, interpolated_ap  # noqa: F401
from .results_io import (dump_submission, evaluate_submission,  # noqa: F401
                         load_submission)
from .score_fusion import ExternalClassScores, fuse_class_scores  # noqa: F401
from .tal_metric import TALMetric  # noqa: F401
from .tie_order import TIE_ORDERS  # noqa: F401
