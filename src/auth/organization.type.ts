import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'The organization that the API key in the `api-key` header belongs to.' })
export class Organization {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;
}
