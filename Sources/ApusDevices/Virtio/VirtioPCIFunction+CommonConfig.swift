public import ApusCore

/// The common configuration structure (virtio 1.x 4.1.4.3): feature negotiation, device status, queue setup.
extension VirtioPCIFunction {
    var selectedQueue: Int? {
        Int(transport.queueSelect) < transport.queues.count ? Int(transport.queueSelect) : nil
    }

    func readCommon(offset: UInt64, size: Int) -> UInt64 {
        let queue = selectedQueue.map { transport.queues[$0] }
        let value: UInt64
        switch offset {
        case 0x00: value = UInt64(transport.deviceFeatureSelect)
        case 0x04:
            value = transport.deviceFeatureSelect < 2 ? (model.offeredFeatures >> (32 * UInt64(transport.deviceFeatureSelect))) & 0xFFFF_FFFF : 0
        case 0x08: value = UInt64(transport.driverFeatureSelect)
        case 0x0C:
            value = transport.driverFeatureSelect < 2 ? (transport.driverFeatures >> (32 * UInt64(transport.driverFeatureSelect))) & 0xFFFF_FFFF : 0
        case 0x10: value = UInt64(transport.configVector)
        case 0x12: value = UInt64(transport.queues.count)
        case 0x14: value = UInt64(transport.status)
        case 0x15: value = UInt64(transport.configGeneration)
        case 0x16: value = UInt64(transport.queueSelect)
        case 0x18: value = UInt64(queue?.size ?? 0)
        case 0x1A: value = UInt64(queue?.msixVector ?? VirtioTransportState.noVector)
        case 0x1C: value = queue?.enabled == true ? 1 : 0
        case 0x1E: value = UInt64(selectedQueue ?? 0)
        case 0x20, 0x24: value = (queue?.descriptorTable ?? 0) >> (offset == 0x24 ? 32 : 0)
        case 0x28, 0x2C: value = (queue?.driverArea ?? 0) >> (offset == 0x2C ? 32 : 0)
        case 0x30, 0x34: value = (queue?.deviceArea ?? 0) >> (offset == 0x34 ? 32 : 0)
        default: value = 0
        }
        return size >= 8 ? value : value & ((1 << (8 * UInt64(size))) - 1)
    }

    func writeCommon(offset: UInt64, size: Int, value: UInt64) {
        let low32 = UInt32(truncatingIfNeeded: value)
        switch offset {
        case 0x00: transport.deviceFeatureSelect = low32
        case 0x08: transport.driverFeatureSelect = low32
        case 0x0C:
            guard transport.status & VirtioStatus.featuresOK == 0, transport.driverFeatureSelect < 2 else { return }
            let shift = 32 * UInt64(transport.driverFeatureSelect)
            transport.driverFeatures = transport.driverFeatures & ~(0xFFFF_FFFF << shift) | UInt64(low32) << shift
        case 0x10: transport.configVector = validVector(UInt16(truncatingIfNeeded: value))
        case 0x14: writeStatus(UInt8(truncatingIfNeeded: value))
        case 0x16: transport.queueSelect = UInt16(truncatingIfNeeded: value)
        default: writeQueueRegister(offset: offset, size: size, value: value)
        }
    }

    private func writeQueueRegister(offset: UInt64, size: Int, value: UInt64) {
        guard let index = selectedQueue else { return }
        var queue = transport.queues[index]
        defer { transport.queues[index] = queue }
        if offset == 0x1A {
            queue.msixVector = validVector(UInt16(truncatingIfNeeded: value))
            return
        }
        // The ring's geometry is fixed once the queue is enabled (virtio 1.x 4.1.4.3.2).
        guard !queue.enabled else { return }
        func merge(_ old: UInt64, high: Bool) -> UInt64 {
            if size == 8 { return value }
            return high ? old & 0xFFFF_FFFF | (value & 0xFFFF_FFFF) << 32 : old & ~0xFFFF_FFFF | value & 0xFFFF_FFFF
        }
        switch offset {
        case 0x18: queue.size = min(UInt16(truncatingIfNeeded: value), model.maxQueueSize)
        case 0x1C:
            guard value & 1 == 1 else { return }
            let ring = SplitVirtqueue(size: queue.size, descriptorTable: GuestAddress(queue.descriptorTable),
                                      availableRing: GuestAddress(queue.driverArea),
                                      usedRing: GuestAddress(queue.deviceArea),
                                      eventIndex: transport.driverFeatures & VirtioFeature.eventIndex != 0)
            do {
                try ring.validateLayout(in: memory)
                queue.ring = ring
                queue.enabled = true
            } catch {
                enterNeedsReset("queue \(index): \(error)")
            }
        case 0x20, 0x24: queue.descriptorTable = merge(queue.descriptorTable, high: offset == 0x24)
        case 0x28, 0x2C: queue.driverArea = merge(queue.driverArea, high: offset == 0x2C)
        case 0x30, 0x34: queue.deviceArea = merge(queue.deviceArea, high: offset == 0x34)
        default: break
        }
    }

    private func validVector(_ vector: UInt16) -> UInt16 {
        Int(vector) < msix.count ? vector : VirtioTransportState.noVector
    }

    private func writeStatus(_ value: UInt8) {
        if value == 0 {
            reset()
            return
        }
        var next = value & ~VirtioStatus.needsReset | transport.status & VirtioStatus.needsReset
        let newlySet = next & ~transport.status
        if newlySet & VirtioStatus.featuresOK != 0 {
            let features = transport.driverFeatures
            let acceptable = features & ~model.offeredFeatures == 0 && features & VirtioFeature.version1 != 0
            if !acceptable { next &= ~VirtioStatus.featuresOK }
        }
        if newlySet & VirtioStatus.driverOK != 0 {
            guard next & VirtioStatus.featuresOK != 0 else {
                enterNeedsReset("DRIVER_OK set before FEATURES_OK")
                return
            }
            model.activate(features: transport.driverFeatures)
        }
        transport.status = next
    }

    private func reset() {
        transport = VirtioTransportState(queueCount: model.queueCount, maxQueueSize: model.maxQueueSize)
        model.reset()
        updateINTx()
    }

}
