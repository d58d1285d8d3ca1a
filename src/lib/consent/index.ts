export * from './model.js'
export * from './registry.js'
export * from './list.js'
export * from './signed-grant.js'
