import Foundation
import Synchronization

/// Admission control for guest memory: a VM reserves its memory before it starts or resumes from disk and gives it
/// back when it stops or is suspended, so the daemon never commits more than its budget (overcommit is off unless
/// the budget is nil, `--memory-overcommit`).
final class MemoryBudget: Sendable {
    /// The most guest memory running VMs may hold together; nil allows any amount.
    let limitMiB: Int?
    private let reservations = Mutex<[String: Int]>([:])

    init(limitMiB: Int?) { self.limitMiB = limitMiB }

    var committedMiB: Int { reservations.withLock { $0.values.reduce(0, +) } }

    /// Reserves `mib` for VM `id` (a VM that already holds a reservation keeps it: a reboot needs no new memory).
    func reserve(_ mib: Int, for id: String, name: String) throws {
        try reservations.withLock { reservations in
            guard reservations[id] == nil else { return }
            let committed = reservations.values.reduce(0, +)
            if let limitMiB, committed + mib > limitMiB {
                throw DaemonError.insufficientMemory(name: name, requestedMiB: mib, committedMiB: committed,
                                                     budgetMiB: limitMiB)
            }
            reservations[id] = mib
        }
    }

    func release(_ id: String) {
        _ = reservations.withLock { $0.removeValue(forKey: id) }
    }

    /// The default budget: the host's memory less what the host itself needs (an eighth, at least 1 GiB), so
    /// guests cannot push the host into swapping or the OOM killer.
    static func defaultLimitMiB(meminfo: String = "/proc/meminfo") -> Int? {
        guard let text = try? String(contentsOfFile: meminfo, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let totalMiB = kib / 1024
        return max(totalMiB - max(1024, totalMiB / 8), 0)
    }
}
