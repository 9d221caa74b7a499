import Logging

/// One line per lifecycle operation: who asked (uid and pid from SO_PEERCRED), what, on which VM, and the result.
struct AuditLog: Sendable {
    let logger: Logger

    func record(_ operation: String, vm: String, caller: PeerCredentials?, result: String, operationID: String? = nil) {
        logger.notice("audit", metadata: [
            "op": "\(operation)",
            "operation-id": "\(operationID ?? "-")",
            "vm": "\(vm)",
            "uid": "\(caller.map { String($0.uid) } ?? "unknown")",
            "pid": "\(caller.map { String($0.pid) } ?? "unknown")",
            "result": "\(result)",
        ])
    }
}
