import ApusAPI
import ApusCore
import ApusDisk
import ApusVMM
import Foundation

/// What the daemon and a VM's worker process say to each other over their socketpair. Each frame carries one JSON
/// message (see `WorkerChannel`); the first frame, from the daemon, is `WorkerStart`, whose `version` must match.
enum WorkerProtocol {
    static let version = 1
    /// A frame longer than this ends the conversation (and the worker): a full console batch is far smaller.
    static let maximumFrame = 1 << 20
    /// The worker's end of the socketpair; boot files follow it, in the order `WorkerStart.bootFiles` lists them.
    static let channelDescriptor: Int32 = 3
}

/// The daemon's first frame: what the worker runs.
struct WorkerStart: Codable, Sendable {
    var version = WorkerProtocol.version
    var vm: String
    var definition: VMDefinition
    /// Boot files already opened and checked by the daemon, passed as descriptors from 4 on.
    var bootFiles: [PassedBootFile]
    /// Resume from this saved state instead of booting.
    var restoreFrom: String?
    /// The definition's disks, each chain opened by the daemon under the disk policy and passed after the boot files.
    var disks: [PassedDisk] = []

    /// Every descriptor the daemon passed along with the channel.
    var passedDescriptors: [Int32] { bootFiles.map(\.descriptor) + disks.flatMap { $0.chain.map(\.descriptor) } }
}

struct PassedDisk: Codable, Sendable {
    /// The canonical path, as the machine (and a saved state) names the disk.
    var path: String
    var readOnly: Bool
    /// The image and its backing files, with the worker's descriptor numbers.
    var chain: [HandedOverDiskFile]

    var attachment: DiskAttachment { DiskAttachment(path: path, readOnly: readOnly, handedOver: chain) }
}

struct PassedBootFile: Codable, Sendable {
    var role: String
    var path: String
    var descriptor: Int32
}

/// Daemon → worker, after the start.
struct WorkerRequest: Codable, Sendable {
    enum Action: Codable, Sendable {
        case pause, resume, stop
        case suspend(directory: String)
        case consoleInput(Data)
    }

    var id: UInt64
    var action: Action
}

/// Worker → daemon.
enum WorkerReport: Codable, Sendable {
    /// The machine runs (id 0 answers the start; `failure` says why it did not).
    case reply(WorkerReply)
    /// Guest console output, in batches.
    case console(Data)
    /// Sent every second while the machine runs, so reads of a VM's info never wait for the worker.
    case stats(WorkerStats)
    /// The run ended; the worker exits after this frame.
    case ended(WireOutcome)
}

struct WorkerReply: Codable, Sendable {
    var id: UInt64
    var failure: WireFailure?
    /// Console bytes the UART accepted, for console input.
    var accepted: Int?
    var backend: String?
    var backendNote: String?
    var stats: WorkerStats?
}

struct WorkerStats: Codable, Sendable, Equatable {
    var paused: Bool
    var exits: [String: Int]
}

/// A daemon error carried across the process boundary (the status decides which one comes back).
struct WireFailure: Codable, Sendable {
    var status: Int
    var message: String

    init(_ error: any Error) {
        let daemonError = error as? DaemonError ?? .internal("\(error)")
        status = daemonError.status
        message = daemonError.description
    }

    var daemonError: DaemonError {
        switch status {
        case 400: return .badRequest(message)
        case 422: return .unprocessable(message)
        case 507: return .insufficientStorage(message)
        default: return .internal(message)
        }
    }
}

/// `MachineOutcome` on the wire.
enum WireOutcome: Codable, Sendable, Equatable {
    case exited(code: UInt32)
    case halted
    case tripleFault(vcpu: Int)
    case shutdown, reset, crash
    case stopped
    case failed(String)

    init(_ outcome: MachineOutcome) {
        switch outcome {
        case .exited(let code): self = .exited(code: code)
        case .halted: self = .halted
        case .tripleFault(let vcpu): self = .tripleFault(vcpu: vcpu)
        case .systemEvent(.shutdown): self = .shutdown
        case .systemEvent(.reset): self = .reset
        case .systemEvent(.crash): self = .crash
        case .stopped: self = .stopped
        case .failed(let message): self = .failed(message)
        }
    }

    var outcome: MachineOutcome {
        switch self {
        case .exited(let code): return .exited(code: code)
        case .halted: return .halted
        case .tripleFault(let vcpu): return .tripleFault(vcpu: vcpu)
        case .shutdown: return .systemEvent(.shutdown)
        case .reset: return .systemEvent(.reset)
        case .crash: return .systemEvent(.crash)
        case .stopped: return .stopped
        case .failed(let message): return .failed(message)
        }
    }
}
