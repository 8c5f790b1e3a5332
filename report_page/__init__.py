"""The batch page: `OUT/index.html`, a static view of a run's studies, failures, plots and run summary."""

from report_page.page import PAGE_NAME, page_at_end_of_run, write_batch_page, write_page

__all__ = ["PAGE_NAME", "page_at_end_of_run", "write_batch_page", "write_page"]
