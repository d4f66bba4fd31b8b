import { Controller, Get, Param, Post, Query } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ResultBackend } from 'typeorm-result-backend';

/** Starts groups of in-process tasks, and joins them; any replica can join a group another one started. */
@Controller('groups')
export class GroupsController {
  constructor(private readonly results: ResultBackend) {}

  @Post()
  async start(@Query('size') size = '4'): Promise<{ groupId: string; taskIds: string[] }> {
    const groupId = randomUUID();
    const taskIds = Array.from({ length: Number(size) }, (_, i) => `${groupId}-${i}`);
    await this.results.saveGroup(groupId, taskIds);
    // The "tasks": run in this process after the response, each storing its result.
    for (const [i, taskId] of taskIds.entries()) {
      setImmediate(async () => {
        await this.results.markAsStarted(taskId);
        await this.results.markAsDone(taskId, i * i);
      });
    }
    return { groupId, taskIds };
  }

  @Get(':groupId')
  async join(@Param('groupId') groupId: string): Promise<{ groupId: string; results: number[] }> {
    return { groupId, results: await this.results.joinGroup<number>(groupId, { timeoutMs: 10_000 }) };
  }
}
