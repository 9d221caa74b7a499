// swift-tools-version:6.2
// Apus: a KVM-backed hypervisor with a pure-Swift software-CPU backend.
// Module boundaries (what may import what) are documented in docs/ARCHITECTURE.md.
//
// Tools version 6.2, not lower: from 6.2 on SwiftPM no longer refuses a package that another package depends on by
// version because one of its targets has unsafe flags ("the target 'ApusSoftCPU' in product 'ApusVMM' contains unsafe
// build flags" at 6.0), and ApusSoftCPU needs its `-O` (below). A consumer therefore needs Swift 6.2 or later.
// VersionedDependencyTests checks both: a package depending on ApusVMM by version loads its graph, and the rule
// itself still refuses the same flag below 6.2.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Apus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "apus", targets: ["apus"]),
        .executable(name: "apusd", targets: ["apusd"]),
        .library(name: "ApusVMM", targets: ["ApusVMM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The API server is NIO under Hummingbird's HTTP/1 channel (connection limits, timeouts): declared, not borrowed.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The kernel interface only: typed ioctl wrappers and flexible-array helpers.
        .target(name: "CKVM", path: "CKVM"),
        // The worker's lock-down: prctl(PR_SET_NO_NEW_PRIVS) and seccomp(2), which Swift cannot call directly.
        .target(name: "CSandbox", path: "CSandbox"),
        // The host's SSE and x87 units, running one guest floating-point operation bit-exactly (the host is x86-64).
        .target(name: "CHostFPU", path: "CHostFPU"),
        // Host atomics on raw guest RAM (LOCK-prefixed instructions, TSO-ordered loads and stores) for the soft CPU.
        .target(name: "CGuestAtomics", path: "CGuestAtomics"),

        // Backend-neutral machine core: memory, vCPU backend protocol, dispatcher, allocator, device protocol.
        .target(name: "ApusCore", swiftSettings: strict),
        // Backends.
        .target(name: "ApusKVM", dependencies: ["ApusCore", "CKVM"], swiftSettings: strict),
        // The interpreter is optimised in debug builds too: the test suite boots Linux on it, and -Onone makes it
        // about ten times slower. (-enable-testing still applies, so @testable imports keep working.) Weighed and
        // not taken: `@_optimize(speed)` on hot functions (under -Onone the optimiser pipeline does not run; a
        // register-shuffling loop measured 17.0 s plain, 11.8 s with it, 0.75 s with -O); gating the flag on an
        // environment variable (`swift test` alone would then boot Linux ten times slower); guessing from
        // Context.packageDirectory whether this is the root package (it depends on SwiftPM's checkout layout);
        // `swift test -c release` or `-Xswiftc -O` (every dependency optimised too: minutes more of build).
        .target(name: "ApusSoftCPU", dependencies: ["ApusCore", "CHostFPU", "CGuestAtomics"],
                swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Disk image formats (raw, qcow2): host files only, no guest knowledge.
        .target(name: "ApusDisk", swiftSettings: strict),
        // Emulated devices: pure state machines, no backend knowledge.
        .target(name: "ApusDevices", dependencies: ["ApusCore", "ApusDisk"], swiftSettings: strict),
        // Loaders and platform tables.
        .target(name: "ApusBoot", dependencies: ["ApusCore"], swiftSettings: strict),
        // The VMM: builds a machine from a configuration and runs it.
        .target(
            name: "ApusVMM",
            dependencies: [
                "ApusCore", "ApusKVM", "ApusSoftCPU", "ApusDevices", "ApusBoot", "ApusDisk",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Our own test guests, assembled from guests/*.S by the toolchain's clang at build time.
        .executableTarget(name: "apus-guest-build", path: "Plugins/GuestBuildTool"),
        .plugin(name: "GuestBuildPlugin", capability: .buildTool(), dependencies: ["apus-guest-build"]),
        .target(name: "ApusGuests", swiftSettings: strict, plugins: ["GuestBuildPlugin"]),

        // The daemon's wire format: definitions, states, events, errors. Foundation only, shared by daemon and client.
        .target(name: "ApusAPI", swiftSettings: strict),
        // Many VMs with a typed lifecycle, persisted in a state directory, served over HTTP on a Unix socket.
        .target(
            name: "ApusDaemon",
            dependencies: [
                "ApusAPI", "ApusVMM", "ApusCore", "ApusDevices", "ApusGuests", "ApusDisk", "CSandbox",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // A small blocking HTTP/1.1 client over the daemon's Unix socket, for the CLI and the tests.
        .target(name: "ApusClient", dependencies: ["ApusAPI", "ApusCore"], swiftSettings: strict),
        .executableTarget(
            name: "apusd",
            dependencies: [
                "ApusDaemon", "ApusAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "apus",
            dependencies: [
                "ApusVMM", "ApusCore", "ApusDevices", "ApusGuests", "ApusAPI", "ApusClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Benchmarks (not tests): bench/README.md says how to run them.
        .executableTarget(
            name: "apus-bench-pio",
            dependencies: ["ApusCore", "ApusKVM", "ApusDevices", "ApusGuests"],
            path: "bench/Sources/apus-bench-pio",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-softcpu",
            dependencies: ["ApusCore", "ApusSoftCPU", "ApusBoot", "ApusGuests"],
            path: "bench/Sources/apus-bench-softcpu",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-ipi",
            dependencies: ["ApusCore", "ApusDevices", "ApusGuests", "ApusKVM", "ApusVMM"],
            path: "bench/Sources/apus-bench-ipi",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-migrate",
            dependencies: ["ApusCore", "ApusDevices", "ApusGuests", "ApusKVM", "ApusVMM"],
            path: "bench/Sources/apus-bench-migrate",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-disk",
            dependencies: ["ApusDisk"],
            path: "bench/Sources/apus-bench-disk",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-clone",
            dependencies: ["ApusAPI", "ApusClient"],
            path: "bench/Sources/apus-bench-clone",
            swiftSettings: strict),

        .executableTarget(
            name: "apus-bench-daemon",
            dependencies: ["ApusAPI", "ApusClient"],
            path: "bench/Sources/apus-bench-daemon",
            swiftSettings: strict),

        // Test doubles shared by the test targets (a scripted backend, recording devices).
        .target(name: "ApusTesting", dependencies: ["ApusCore"], swiftSettings: strict),

        .testTarget(name: "ApusCoreTests", dependencies: ["ApusCore", "ApusTesting"]),
        .testTarget(name: "ApusDevicesTests", dependencies: ["ApusDevices", "ApusDisk", "ApusTesting"]),
        .testTarget(name: "ApusDiskTests", dependencies: ["ApusDisk"]),
        .testTarget(name: "ApusBootTests", dependencies: ["ApusBoot", "ApusTesting"]),
        .testTarget(name: "ApusKVMTests", dependencies: ["ApusKVM", "ApusCore"]),
        .testTarget(name: "ApusSoftCPUTests", dependencies: ["ApusSoftCPU", "ApusCore", "ApusBoot", "ApusTesting"]),
        // Popek-Goldberg equivalence: the same code on KVM and on the software CPU must end in the same state.
        .testTarget(
            name: "ApusEquivalenceTests",
            dependencies: ["ApusCore", "ApusKVM", "ApusSoftCPU", "ApusBoot", "ApusTesting"],
            resources: [.copy("Expectations")]),
        // Runs the built `apus` binary the way a user does, checking exit statuses and stderr.
        .testTarget(name: "ApusCLITests", dependencies: ["ApusKVM", "ApusCore", "ApusTesting"]),
        .testTarget(name: "ApusVMMTests", dependencies: ["ApusVMM", "ApusGuests", "ApusTesting", "ApusDisk"]),
        .testTarget(name: "ApusDaemonTests", dependencies: ["ApusDaemon", "ApusAPI", "ApusVMM", "ApusDisk", "ApusTesting", "CSandbox"]),
        // Every module's imports against docs/ARCHITECTURE.md's table and the dependencies declared here.
        .testTarget(name: "ApusArchitectureTests", dependencies: ["ApusTesting"]),
        // Drives a real `apusd` process over its socket, with the client and the `apus` binary.
        .testTarget(name: "ApusDaemonE2ETests", dependencies: ["ApusAPI", "ApusClient", "ApusTesting"]),
    ]
)
