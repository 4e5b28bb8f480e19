"""Reading the tenant configuration: limits, burst overrides and feature switches."""

from __future__ import annotations

from tenants.config import BurstLimit, Limits, burst_limit_for, feature_enabled, limits_for


def test_missing_configuration_means_the_documented_defaults():
    assert limits_for(None, "user") == Limits(60, 1000, 10000)
    assert limits_for({}, "admin") == Limits(60, 1000, 10000)


def test_key_type_overrides_take_precedence_over_tenant_defaults():
    config = {"default_requests_per_minute": 10, "key_type_overrides": {"agent": {"requests_per_hour": 50}}}
    assert limits_for(config, "agent") == Limits(10, 50, 10000)
    assert limits_for(config, "user") == Limits(10, 1000, 10000)


def test_burst_overrides_per_service():
    config = {"endpoint_overrides": {"search": {"requests_per_minute": 120, "burst_size": 20}}}
    assert burst_limit_for(config, "search") == BurstLimit(120, 20)
    assert burst_limit_for(config, "tasks") is None


def test_only_an_explicit_false_switches_a_feature_off():
    features = {"search": False, "tasks": True, "beta": "yes", "zero": 0}
    assert feature_enabled(features, "search") is False
    assert feature_enabled(features, "tasks") is True
    assert feature_enabled(features, "beta") is True
    assert feature_enabled(features, "zero") is True
    assert feature_enabled(features, "missing") is True
    assert feature_enabled(features, "missing", default=False) is False
    assert feature_enabled(None, "anything") is True
