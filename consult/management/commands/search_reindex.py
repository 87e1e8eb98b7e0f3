"""``manage.py search_reindex``: build the search index (docs/search.md) of every case and
every shown message from their sealed texts — on a database from before search existed
(demo data included), and after the ``index`` KEK was rotated (the tokens change).

``--missing`` indexes only what has no terms yet (``make run`` uses it on every start, so an
embedded database from before search becomes searchable). Safe to run again, and while the
servers run: each case and each batch of messages is
replaced in its own transaction, under the row locks the writers take, so an edit, delete or
hide that races it wins either way."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from consult import search_index, services
from consult.models import Case, CaseTerm
from rooms import search_index as message_index
from rooms.models import Message, MessageTerm

BATCH = 500


class Command(BaseCommand):
    help = "Index every case and every shown message for search (after a KEK rotation too)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--missing", action="store_true",
                            help="only the cases and messages that have no terms yet")

    def handle(self, *args, missing: bool = False, **options) -> None:
        cases = terms = 0
        todo = Case.objects.all()
        shown = Message.objects.filter(deleted_at__isnull=True, hidden_at__isnull=True)
        if missing:
            todo = todo.exclude(pk__in=CaseTerm.objects.values("case_id"))
            shown = shown.exclude(pk__in=MessageTerm.objects.values("message_id"))
        for pk in todo.order_by("pk").values_list("pk", flat=True).iterator():
            with transaction.atomic():
                case = Case.objects.select_for_update().select_related("specialty").get(pk=pk)
                terms += search_index.case_terms_write(case.pk, services.case_search_texts(case))
            cases += 1
        ids = list(shown.order_by("pk").values_list("pk", flat=True))
        count = 0
        for start in range(0, len(ids), BATCH):
            with transaction.atomic():
                rows = list(Message.objects.select_for_update().filter(
                    pk__in=ids[start:start + BATCH], deleted_at__isnull=True,
                    hidden_at__isnull=True))
                message_index.message_terms_drop([m.pk for m in rows])
                terms += message_index.message_terms_add(
                    (m.pk, m.room_id, m.sent_at, message_index.message_body(m)) for m in rows)
            count += len(rows)
        self.stdout.write(f"indexed {cases} cases and {count} messages ({terms} terms)")
