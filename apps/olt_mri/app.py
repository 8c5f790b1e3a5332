"""olt_mri: osteochondral lesion of the talus on ankle MRI, ResNet50 per weighting (T1, T2)."""

from __future__ import annotations

from apps.catalog import app_info
from apps.olt_mri.report_operator import OltReportOperator
from operators.image_preprocessor import ImagePreprocessorOperator
from operators.series_selector import SeriesSelectorOperator
from operators.study_loader import StudyLoaderOperator
from operators.study_result_writer import StudyResultWriterOperator
from operators.torchscript_inference import TorchScriptInferenceOperator
from run.batch import BatchApplication

__all__ = ["OltMriApp"]


class OltMriApp(BatchApplication):
    """Classifies osteochondral lesions of the talus on ankle MRI (T1 and T2, coronal and sagittal)."""

    info = app_info("olt_mri")

    def compose(self) -> None:
        loader = StudyLoaderOperator(self, index=self.index, study_uids=self.plan.todo, name="study_loader")
        selector = SeriesSelectorOperator(self, rules=self.selection_rules, name="series_selector")
        preprocess = ImagePreprocessorOperator(self, model_store=self.model_store, name="image_preprocessor")
        inference = TorchScriptInferenceOperator(
            self, model_store=self.model_store, batch_size=self.batch_size, name="inference"
        )
        report = OltReportOperator(
            self,
            model_store=self.model_store,
            app_name=self.info.name,
            app_version=self.info.version,
            name="olt_report",
        )
        writer = StudyResultWriterOperator(
            self, output_root=self.run_options.output, ledger=self.ledger, name="result_writer"
        )
        self.add_flow(loader, selector, {(loader.OUTPUT, selector.INPUT)})
        self.add_flow(selector, preprocess, {(selector.OUTPUT, preprocess.INPUT)})
        self.add_flow(preprocess, inference, {(preprocess.OUTPUT, inference.INPUT)})
        self.add_flow(inference, report, {(inference.OUTPUT, report.INPUT)})
        self.add_flow(report, writer, {(report.OUTPUT, writer.INPUT)})
