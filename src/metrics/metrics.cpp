#include <prometheus/text_serializer.h>

#include <souk/metrics/metrics.hpp>

namespace souk::metrics {

prometheus::Registry& registry() {
    static prometheus::Registry r;
    return r;
}

std::string expose() {
    prometheus::TextSerializer s;
    return s.Serialize(registry().Collect());
}

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
    static const prometheus::Histogram::BucketBoundaries b{
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
    return b;
}

}  // namespace souk::metrics
