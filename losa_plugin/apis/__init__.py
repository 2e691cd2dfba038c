"""From a trained checkpoint to detections on any video (``tools/infer.py``)."""
from .inference import (VideoDetections, inference_tal_detector, init_tal_detector,
                        load_video_gt, model_class_names)
from .timeline_plot import plot_detection_timeline

__all__ = ['VideoDetections', 'inference_tal_detector', 'init_tal_detector',
           'load_video_gt', 'model_class_names', 'plot_detection_timeline']
