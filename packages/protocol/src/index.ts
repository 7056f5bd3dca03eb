export * from './errors.ts';
export * from './close-codes.ts';
export * from './names.ts';
export * from './grants.ts';
export * from './claims.ts';
export * from './frames.ts';
export * from './codec.ts';
export * from './control.ts';
