"""Adoption of a legacy (golang-migrate) database: bring it to the expected schema and hand it to Django.

The plan is computed, not written down: what is missing, extra or different
comes from comparing the live catalog with a scratch database built by the
project's migrations (deploy.gap.expected_catalog), and every CREATE comes
from that database's own definitions (planner). Only what the Go platform's
data meant is special-cased, by the fix-ups the planner is given (fixups,
with the values of deploy.legacy).

The whole plan runs in one transaction (PostgreSQL's DDL is transactional)
and is checked with the gap analysis before COMMIT: it either all happens,
or nothing does (plan).

Policy for what the legacy database has on top of the expected schema:
- extra columns (on the platform's tables), extra tables, functions, types,
  sequences and views are kept with their data and marked kept
  (catalog.KEEP_MARKER); a kept NOT NULL column without a default becomes
  nullable, since the platform does not write it;
- extra indexes, constraints, triggers and policies on the platform's tables
  are dropped, unless they involve a kept column (then kept and marked):
  they constrain or index the legacy schema, and a legacy CHECK or trigger
  would break the platform's writes. An index or unique/primary-key
  constraint that is exactly one of the expected ones under another name is
  renamed instead. INVALID indexes are always dropped.

Modules, lowest first: plan (the plan and running it), django_apps (the
project's apps and Django's), planner (the generic planner and its FixUp
interface), fixups (the platform's legacy data).
"""

from .django_apps import django_owned_tables, is_legacy, project_app_labels, project_migrations_recorded
from .fixups import legacy_db_plan, platform_fixups
from .plan import AdoptionFailed, Plan, Step, legacy_db_adopt, render_plan
from .planner import FixUp, Planner, ValueMap, describe_changes_of

__all__ = [
    "AdoptionFailed",
    "FixUp",
    "Plan",
    "Planner",
    "Step",
    "ValueMap",
    "describe_changes_of",
    "django_owned_tables",
    "is_legacy",
    "legacy_db_adopt",
    "legacy_db_plan",
    "platform_fixups",
    "project_app_labels",
    "project_migrations_recorded",
    "render_plan",
]
