import ApusAPI
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics, kept in its own registry (no global MetricsSystem, so tests and libraries can
/// embed a daemon freely): VMs per state, exits per VM and kind, API latency per route.
final class DaemonMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let stateGauges: [VMState: Gauge]
    private let acceptFailures: Counter
    private let series = Mutex(Series())

    private struct Series {
        /// Exit counters by VM id and kind, with the count already added, so each scrape adds only what is new.
        var exits: [String: [String: (counter: Counter, seen: Int)]] = [:]
        var latency: [String: DurationHistogram] = [:]
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    static var vms: MetricNameDescriptor { MetricNameDescriptor(namespace: "apus", metricName: "vms", unitName: "",
                                          helpText: "VMs in each lifecycle state") }
    static var exits: MetricNameDescriptor { MetricNameDescriptor(namespace: "apus", subsystem: "vm", metricName: "exits", unitName: "total",
                                            helpText: "vCPU exits handled by the VMM, per VM and exit kind") }
    static var requestDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "apus", subsystem: "api", metricName: "request_duration",
                                                      unitName: "seconds", helpText: "API request latency") }

    static var acceptFailuresDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "apus", subsystem: "api", metricName: "accept_failures", unitName: "total",
                             helpText: "Client connections the daemon could not accept for want of descriptors or memory")
    }

    init() {
        acceptFailures = registry.makeCounter(descriptor: Self.acceptFailuresDescriptor)
        var gauges: [VMState: Gauge] = [:]
        for state in VMState.allCases {
            gauges[state] = registry.makeGauge(descriptor: Self.vms, labels: [("state", state.rawValue)])
        }
        stateGauges = gauges
    }

    /// An accept failed with EMFILE, ENFILE, ENOBUFS or ENOMEM.
    func acceptFailed() { acceptFailures.increment() }

    func observeRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = "\(method) \(route) \(status)"
        let histogram = series.withLock { series in
            if let existing = series.latency[key] { return existing }
            let made = registry.makeDurationHistogram(
                descriptor: Self.requestDuration,
                labels: [("method", method), ("route", route), ("status", String(status))],
                buckets: Self.latencyBuckets)
            series.latency[key] = made
            return made
        }
        histogram.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000
                                    + duration.components.attoseconds / 1_000_000_000)
    }

    /// The Prometheus text exposition, with VM gauges and exit counters brought up to date first.
    func render(vms: [VMController]) -> String {
        var counts: [VMState: Int] = [:]
        for vm in vms { counts[vm.state, default: 0] += 1 }
        for (state, gauge) in stateGauges { gauge.set(Int64(counts[state] ?? 0)) }
        let live = Set(vms.map(\.id))
        series.withLock { series in
            for vm in vms {
                guard let exits = vm.exitCounts else { continue }
                for (kind, count) in exits {
                    var entry = series.exits[vm.id]?[kind] ?? (registry.makeCounter(
                        descriptor: Self.exits, labels: [("vm", vm.name), ("kind", kind)]), 0)
                    // A new run starts counting from zero again; a counter only grows, so add the new run's count.
                    let added = count >= entry.seen ? count - entry.seen : count
                    if added > 0 { entry.counter.increment(by: Int64(added)) }
                    entry.seen = count
                    series.exits[vm.id, default: [:]][kind] = entry
                }
            }
            for (id, kinds) in series.exits where !live.contains(id) {
                for entry in kinds.values { registry.unregisterCounter(entry.counter) }
                series.exits[id] = nil
            }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
