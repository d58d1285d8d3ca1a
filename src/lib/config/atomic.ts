export * from '../core/atomic.js'
