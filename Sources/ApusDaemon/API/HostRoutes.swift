import ApusAPI
import ApusVMM
import Foundation
import Hummingbird

/// `GET /v1/host` (the backend in use, KVM's capabilities, versions) and `GET /metrics` (Prometheus text).
struct HostRoutes {
    let registry: VMRegistry
    let metrics: DaemonMetrics
    let stateDirectory: String

    func register(on routes: APIRoutes) {
        routes.on(.get, "/v1/host") { _, _ in
            let report = HostReport.probe()
            let info = HostInfo(
                version: ApusVersion.current, defaultBackend: report.defaultBackend,
                defaultKernelBackend: report.defaultKernelBackend,
                kvm: .init(usable: report.kvmUsable, reason: report.kvmUnusableReason, apiVersion: report.kvmAPIVersion,
                           capabilities: report.kvmCapabilities, hardwareAssisted: report.hardwareAssisted),
                vmCount: registry.all.count, stateDirectory: stateDirectory, pid: getpid())
            return try JSONResponse.make(info)
        }
        routes.on(.get, "/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render(vms: registry.all))))
        }
    }
}
