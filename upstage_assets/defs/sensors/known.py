"""Which document ids already are partitions, asked one id at a time.

``get_dynamic_partitions`` returns every partition key (100,000 rows at 100,000 documents)
on each call; a sensor only needs to know about the few ids it just read, so it asks
``has_dynamic_partition`` per id (one indexed lookup) and remembers the answers and the ids
it is adding itself. A tick's cost then follows the new documents, not the known ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance

from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME


class KnownPartitions:
    """A set-like view (``in``, ``add``, ``update``) of the documents partitions, filled lazily."""

    def __init__(self, instance: DagsterInstance, partitions_name: str = DOCUMENTS_PARTITIONS_NAME):
        self._instance, self._name = instance, partitions_name
        self._answers: dict[str, bool] = {}

    def __contains__(self, document_id: object) -> bool:
        if not isinstance(document_id, str):
            return False
        answer = self._answers.get(document_id)
        if answer is None:
            answer = self._answers[document_id] = self._instance.has_dynamic_partition(self._name, document_id)
        return answer

    def add(self, document_id: str) -> None:
        self._answers[document_id] = True

    def update(self, document_ids: Iterable[str]) -> None:
        for document_id in document_ids:
            self.add(document_id)
