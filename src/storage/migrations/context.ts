/** What a migration may need to know about the database it runs on (its own file: index.ts imports every migration). */
export interface MigrationContext {
  dialect: 'sqlite' | 'postgres';
}
