#pragma once
// Metrics through prometheus-cpp: one registry for the process, exposed at /metrics.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <memory>
#include <string>

namespace souk::metrics {

prometheus::Registry& registry();
std::string expose();

// Buckets in seconds from 50 µs to 10 s.
const prometheus::Histogram::BucketBoundaries& latency_buckets();

}  // namespace souk::metrics
