// Types of build-state.js (plain JavaScript: bin/rearguard.js runs it before any TypeScript is available).
export declare const ROOT: string;
export declare const SOURCE_DIRS: string[];
export declare const SOURCE_FILES: string[];
export declare const STAMP: string;
export declare function sourceFiles(root?: string): string[];
export declare function buildProblem(root?: string, outDir?: string): string | undefined;
