"""ankle_xray: perimalleolar bone fragments on ankle radiographs, RetinaNet then MobileNetV2 (LMAF vs SFO)."""

from __future__ import annotations

from apps.ankle_xray.report_operator import FragmentReportOperator
from apps.catalog import app_info
from dicom_out import codes
from inference.model_meta import ClassifierMeta
from inference.model_store import ModelError, ModelStore
from operators.box_detector import BoxDetectionOperator
from operators.crop_classifier import CropClassifierOperator
from operators.image_preprocessor import ImagePreprocessorOperator
from operators.series_selector import SeriesSelectorOperator
from operators.study_loader import StudyLoaderOperator
from operators.study_result_writer import StudyResultWriterOperator
from run.batch import BatchApplication

__all__ = ["AnkleXrayApp", "DETECTOR", "CLASSIFIER"]

DETECTOR = "ankle_xray_detector"  # named by the selection rules, which send every radiograph to it
CLASSIFIER = "ankle_xray_classifier"


class AnkleXrayApp(BatchApplication):
    """Finds perimalleolar fragments on every ankle radiograph of a study and classifies each LMAF vs SFO."""

    info = app_info("ankle_xray")

    @classmethod
    def check_models(cls, store: ModelStore) -> None:
        """The classifier must read square crops around the detector's boxes."""
        super().check_models(store)
        classifier = store.get(CLASSIFIER, ClassifierMeta)
        if classifier.meta.crop is None:
            raise ModelError(
                f"Model {CLASSIFIER!r} at {classifier.path} has no 'crop' in its meta: not a crop classifier"
            )

    def compose(self) -> None:
        store, batch_size = self.model_store, self.batch_size
        loader = StudyLoaderOperator(self, index=self.index, study_uids=self.plan.todo, name="study_loader")
        selector = SeriesSelectorOperator(self, rules=self.selection_rules, name="series_selector")
        preprocess = ImagePreprocessorOperator(self, model_store=store, name="image_preprocessor")
        detect = BoxDetectionOperator(self, model_store=store, batch_size=batch_size, name="fragment_detector")
        classify = CropClassifierOperator(
            self, model_store=store, model_name=CLASSIFIER, batch_size=batch_size, name="fragment_classifier"
        )
        report = FragmentReportOperator(
            self,
            model_store=store,
            classifier=CLASSIFIER,
            app_name=self.info.name,
            app_version=self.info.version,
            name="fragment_report",
        )
        writer = StudyResultWriterOperator(
            self,
            output_root=self.run_options.output,
            ledger=self.ledger,
            procedure=codes.PLAIN_RADIOGRAPHY,
            name="result_writer",
        )
        self.add_flow(loader, selector, {(loader.OUTPUT, selector.INPUT)})
        self.add_flow(selector, preprocess, {(selector.OUTPUT, preprocess.INPUT)})
        self.add_flow(preprocess, detect, {(preprocess.OUTPUT, detect.INPUT)})
        self.add_flow(detect, classify, {(detect.OUTPUT, classify.INPUT)})
        self.add_flow(classify, report, {(classify.OUTPUT, report.INPUT)})
        self.add_flow(report, writer, {(report.OUTPUT, writer.INPUT)})
